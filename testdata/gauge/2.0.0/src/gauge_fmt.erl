-module(gauge_fmt).
-export([format/1]).

format({N, Last}) -> lists:flatten(io_lib:format("~b pulses (last at ~p)", [N, Last]));
format(N) -> lists:flatten(io_lib:format("~b pulses", [N])).
