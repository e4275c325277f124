%% tally_health:check/0 is the release's health function for beamupd:
%% the counter must answer.
-module(tally_health).
-export([check/0]).

check() ->
    case catch tally_counter:value() of
        N when is_integer(N) -> ok;
        Other -> {error, {counter, Other}}
    end.
