%% gauge_health:check/0 is the release's health function for beamupd.
%% The counter must answer. GAUGE_FAIL_HEALTH=1 in the node's OS
%% environment, or (new in 2.0.0) {health, fail} in gauge's application
%% environment (sys.config), stands in for a sensor that stopped answering.
-module(gauge_health).
-export([check/0]).

check() ->
    Fail = os:getenv("GAUGE_FAIL_HEALTH") =:= "1"
        orelse application:get_env(gauge, health) =:= {ok, fail},
    case {Fail, catch gauge_counter:value()} of
        {true, _} -> {error, sensor_unplugged};
        {_, N} when is_integer(N) -> ok;
        {_, Other} -> {error, {counter, Other}}
    end.
