%% 1.3.0 fixes 1.2.0's counter: it is 1.1.0's again, a map state with the
%% count and the time of the last pulse, and a code_change/3 that works.
%% 1.3.0's appup restarts the emulator, so it is not called from 1.2.0.
-module(gauge_counter).
-behaviour(gen_server).
-export([start_link/0, pulse/0, value/0, describe/0, state/0]).
-export([init/1, handle_call/3, handle_cast/2, code_change/3]).

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

pulse() -> gen_server:call(?MODULE, pulse).
value() -> gen_server:call(?MODULE, value).
describe() -> gen_server:call(?MODULE, describe).
state() -> gen_server:call(?MODULE, state).

init([]) -> {ok, #{count => 0, last => undefined}}.

handle_call(pulse, _From, S = #{count := N}) ->
    {reply, N + 1, S#{count := N + 1, last := erlang:system_time(millisecond)}};
handle_call(value, _From, S = #{count := N}) -> {reply, N, S};
handle_call(describe, _From, S) -> {reply, gauge_fmt:format(gauge_stats:summary(S)), S};
handle_call(state, _From, S) -> {reply, S, S}.

handle_cast(_Msg, S) -> {noreply, S}.

code_change({down, _Vsn}, #{count := N}, _Extra) -> {ok, N};
code_change(_OldVsn, N, _Extra) when is_integer(N) -> {ok, #{count => N, last => undefined}};
code_change(_OldVsn, S, _Extra) -> {ok, S}.
