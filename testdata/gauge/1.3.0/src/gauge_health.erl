%% gauge_health:check/0 is the release's health function for beamupd.
%% The counter must answer. GAUGE_FAIL_HEALTH=1 in the node's OS
%% environment stands in for a sensor that stopped answering.
-module(gauge_health).
-export([check/0]).

check() ->
    case {os:getenv("GAUGE_FAIL_HEALTH"), catch gauge_counter:value()} of
        {"1", _} -> {error, sensor_unplugged};
        {_, N} when is_integer(N) -> ok;
        {_, Other} -> {error, {counter, Other}}
    end.
