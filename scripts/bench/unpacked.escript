#!/usr/bin/env escript
%%! -hidden
%% unpacked.escript NODE COOKIE ROOT TARBALL NAME VSN
%%
%% The baseline of make bench's "last byte to committed": the release is
%% unpacked first (not timed), then the bare release_handler calls that
%% take an unpacked release to permanent are timed from here, over the
%% same distribution beamupd uses: check_install_release, install_release,
%% make_permanent. It prints the milliseconds.
main([Node0, Cookie, Root, Tarball, Name, Vsn]) ->
    Node = list_to_atom(Node0),
    {ok, _} = net_kernel:start([list_to_atom("unpacked" ++ os:getpid() ++ "@127.0.0.1"), longnames]),
    erlang:set_cookie(node(), list_to_atom(Cookie)),
    Base = filename:join([Root, "releases", Name ++ "-" ++ Vsn]),
    {ok, _} = file:copy(Tarball, Base ++ ".tar.gz"),
    {ok, Rel} = erl_tar:extract(Tarball, [compressed, memory,
                                          {files, ["releases/" ++ Vsn ++ "/" ++ Name ++ ".rel"]}]),
    [{_, RelData}] = Rel,
    ok = file:write_file(Base ++ ".rel", RelData),
    Call = fun(M, F, A) -> rpc:call(Node, M, F, A, 60000) end,
    {Name, Running} = Call(init, script_id, []),
    ok = Call(release_handler, create_RELEASES,
              [Root, Root ++ "/releases", Root ++ "/releases/" ++ Running ++ "/" ++ Name ++ ".rel", []]),
    ok = Call(supervisor, terminate_child, [sasl_sup, release_handler]),
    {ok, _} = Call(supervisor, restart_child, [sasl_sup, release_handler]),
    {ok, Vsn} = Call(release_handler, unpack_release, [Name ++ "-" ++ Vsn]),
    T0 = erlang:monotonic_time(microsecond),
    {ok, _, _} = Call(release_handler, check_install_release, [Vsn]),
    {ok, _, _} = Call(release_handler, install_release, [Vsn]),
    ok = Call(release_handler, make_permanent, [Vsn]),
    T1 = erlang:monotonic_time(microsecond),
    io:format("~.1f~n", [(T1 - T0) / 1000]),
    halt(0).
