defmodule Meter.MixProject do
  use Mix.Project

  def project do
    [
      app: :meter,
      version: "1.2.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        # A plain release, no appup and no relup: 1.2.0 is installed by
        # restarting the node onto it.
        meter: [include_erts: true, steps: [:assemble, :tar]]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {Meter.Application, []}]
  end
end
