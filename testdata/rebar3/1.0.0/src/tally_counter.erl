%% tally_counter counts. In 1.0.0 its state is a bare integer; 1.1.0 turns
%% it into a map and migrates it in code_change/3.
-module(tally_counter).
-behaviour(gen_server).
-export([start_link/0, bump/0, value/0, state/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

bump() -> gen_server:call(?MODULE, bump).
value() -> gen_server:call(?MODULE, value).
state() -> gen_server:call(?MODULE, state).

init([]) -> {ok, 0}.

handle_call(bump, _From, N) -> {reply, N + 1, N + 1};
handle_call(value, _From, N) -> {reply, N, N};
handle_call(state, _From, N) -> {reply, N, N}.

handle_cast(_Msg, N) -> {noreply, N}.

code_change(_OldVsn, N, _Extra) -> {ok, N}.
