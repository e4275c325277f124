%% In 1.1.0 the state is a map: the count, and whether code_change/3
%% migrated it from a 1.0.0 integer. code_change/3 migrates an integer
%% state up and a map state down.
-module(tally_counter).
-behaviour(gen_server).
-export([start_link/0, bump/0, value/0, state/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

bump() -> gen_server:call(?MODULE, bump).
value() -> gen_server:call(?MODULE, value).
state() -> gen_server:call(?MODULE, state).

init([]) -> {ok, #{count => 0, migrated => false}}.

handle_call(bump, _From, S = #{count := N}) -> {reply, N + 1, S#{count := N + 1}};
handle_call(value, _From, S = #{count := N}) -> {reply, N, S};
handle_call(state, _From, S) -> {reply, S, S}.

handle_cast(_Msg, S) -> {noreply, S}.

code_change({down, _Vsn}, #{count := N}, _Extra) -> {ok, N};
code_change(_OldVsn, N, _Extra) when is_integer(N) -> {ok, #{count => N, migrated => true}};
code_change(_OldVsn, S, _Extra) -> {ok, S}.
