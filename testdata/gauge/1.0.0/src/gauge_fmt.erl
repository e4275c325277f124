-module(gauge_fmt).
-export([format/1]).

format(N) -> lists:flatten(io_lib:format("~b pulses", [N])).
