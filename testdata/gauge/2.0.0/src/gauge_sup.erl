-module(gauge_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Counter = #{id => gauge_counter,
                start => {gauge_counter, start_link, []},
                modules => [gauge_counter]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 10}, [Counter]}}.
