%% 1.2.0 is broken on purpose: its code_change/3 crashes (badarith) on the
%% way up, after release_handler's point of no return.
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

code_change({down, _Vsn}, S, _Extra) -> {ok, S};
code_change(_OldVsn, #{count := N}, _Extra) -> {ok, #{count => N div zero()}}.

zero() -> 0.
