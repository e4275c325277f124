defmodule Meter.MixProject do
  use Mix.Project

  def project do
    [
      app: :meter,
      version: "1.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        meter: [include_erts: true, steps: [:assemble, &relup/1, :tar]]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {Meter.Application, []}]
  end

  # A release step between :assemble and :tar: the hand-written appup goes
  # into the application's ebin, and systools makes releases/1.1.0/relup
  # from the 1.0.0 release that METER_UPGRADE_FROM names (its root: the
  # .rel in releases/1.0.0, the applications in lib).
  defp relup(release) do
    from = System.fetch_env!("METER_UPGRADE_FROM")
    ebin = Path.join([release.path, "lib", "meter-#{release.version}", "ebin"])
    File.cp!("rel/meter.appup", Path.join(ebin, "meter.appup"))

    path =
      for root <- [release.path, from], dir <- Path.wildcard(Path.join(root, "lib/*/ebin")),
          do: String.to_charlist(dir)

    old = [from |> Path.join("releases/1.0.0/meter") |> String.to_charlist()]
    dir = Path.join([release.path, "releases", release.version])
    new = dir |> Path.join("meter") |> String.to_charlist()

    case :systools.make_relup(new, old, old, [:silent, {:path, path}, {:outdir, String.to_charlist(dir)}]) do
      {:ok, _relup, _mod, _warnings} -> release
      {:error, mod, error} -> Mix.raise("make_relup: " <> List.to_string(mod.format_error(error)))
    end
  end
end
