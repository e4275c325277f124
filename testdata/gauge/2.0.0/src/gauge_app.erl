%% In 2.0.0 the application can refuse to start: {boot, crash} in gauge's
%% environment (sys.config [{gauge, [{boot, crash}]}]) makes start/2 fail,
%% and with it the boot of the node, as a release that cannot boot would.
-module(gauge_app).
-behaviour(application).
-export([start/2, stop/1]).

start(_Type, _Args) ->
    case application:get_env(gauge, boot) of
        {ok, crash} -> {error, {boot, crash_on_purpose}};
        _ -> gauge_sup:start_link()
    end.

stop(_State) -> ok.
