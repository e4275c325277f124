package beam

import (
	"context"
	"fmt"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// Elixir releases made by mix keep two things outside what
// release_handler upgrades: protocols consolidated for the release, in
// releases/VSN/consolidated (on the code path through the boot script),
// and runtime configuration (config/runtime.exs and other config
// providers), applied by Config.Provider.boot/0 as the release boots and
// reset by install_release to the build-time sys.config. These calls make
// a hot upgrade or downgrade leave them as a boot of vsn would.

// SwapConsolidated puts releases/vsn/consolidated on the node's code path
// in place of another release's and loads the protocols whose code
// differs. It returns the protocols loaded; none when the release has no
// consolidated protocols.
func (c *Client) SwapConsolidated(ctx context.Context, root, vsn string) ([]string, error) {
	t, err := c.EvalWith(ctx, `
		New = filename:join([Root, "releases", Vsn, "consolidated"]),
		case filelib:is_dir(New) of
		    false -> [];
		    true ->
		        Path = code:get_path(),
		        case [D || D <- Path, filename:basename(D) =:= "consolidated"] of
		            [] -> code:add_patha(New);
		            _ -> true = code:set_path([case filename:basename(D) of
		                                           "consolidated" -> New; _ -> D end || D <- Path])
		        end,
		        Changed = [M || F <- lists:sort(filelib:wildcard(filename:join(New, "*.beam"))),
		                        {ok, {M, MD5}} <- [beam_lib:md5(F)],
		                        not (code:is_loaded(M) =/= false andalso M:module_info(md5) =:= MD5)],
		        [begin code:purge(M), {module, M} = code:load_file(M), atom_to_list(M) end || M <- Changed]
		end.`, map[string]etf.Term{"Root": root, "Vsn": vsn})
	if err != nil {
		return nil, fmt.Errorf("loading the consolidated protocols of %s: %w", vsn, err)
	}
	return stringList(t), nil
}

// ApplyRuntimeConfig runs the config providers of release vsn again, over
// its sys.config, as Config.Provider.boot/0 does when the release boots,
// and calls the applications' config_change/3 with what changed. It says
// whether the release has config providers at all.
func (c *Client) ApplyRuntimeConfig(ctx context.Context, root, vsn string) (bool, error) {
	t, err := c.EvalWith(ctx, `
		case application:get_env(elixir, config_provider_init) of
		    {ok, P} when is_map(P) ->
		        {ok, [Sys]} = file:consult(filename:join([Root, "releases", Vsn, "sys.config"])),
		        Before = application_controller:prep_config_change(),
		        Config = lists:foldl(fun({Mod, State}, Acc) -> Mod:load(Acc, State) end,
		                             'Elixir.Config':'__merge__'(Sys, maps:get(extra_config, P, [])),
		                             maps:get(providers, P, [])),
		        ok = 'Elixir.Application':put_all_env(Config, [{persistent, true}]),
		        case application_controller:config_change(Before) of
		            ok -> applied;
		            Error -> Error
		        end;
		    _ -> none
		end.`, map[string]etf.Term{"Root": root, "Vsn": vsn})
	if err != nil {
		return false, fmt.Errorf("applying the runtime configuration of %s: %w", vsn, err)
	}
	switch t {
	case etf.Atom("applied"):
		return true, nil
	case etf.Atom("none"):
		return false, nil
	}
	return true, fmt.Errorf("applying the runtime configuration of %s: config_change: %s", vsn, otprel.Format(t))
}
