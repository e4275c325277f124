defmodule Meter.MixProject do
  use Mix.Project

  def project do
    [
      app: :meter,
      version: "1.0.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        meter: [include_erts: true, steps: [:assemble, :tar]]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {Meter.Application, []}]
  end
end
