-module(gauge_fmt).
-export([format/1, display/0]).

format(N) -> lists:flatten(io_lib:format("~b pulses", [N])).

%% display/0 is a plain process loop that shows counts. Its local tail call
%% keeps a process on this version of the module after an upgrade: such a
%% process runs old code until it is told to stop.
display() ->
    receive
        {show, N} -> io:format("~s~n", [format(N)]), display();
        stop -> ok
    end.
