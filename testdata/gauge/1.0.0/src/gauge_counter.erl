%% gauge_counter counts pulses from a sensor. In 1.0.0 its state is a bare
%% integer; 1.1.0 turns it into a map and migrates it in code_change/3.
-module(gauge_counter).
-behaviour(gen_server).
-export([start_link/0, pulse/0, value/0, describe/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

pulse() -> gen_server:call(?MODULE, pulse).
value() -> gen_server:call(?MODULE, value).
describe() -> gen_server:call(?MODULE, describe).

init([]) -> {ok, 0}.

handle_call(pulse, _From, N) -> {reply, N + 1, N + 1};
handle_call(value, _From, N) -> {reply, N, N};
handle_call(describe, _From, N) -> {reply, gauge_fmt:format(N), N}.

handle_cast(_Msg, N) -> {noreply, N}.

code_change(_OldVsn, N, _Extra) -> {ok, N}.
