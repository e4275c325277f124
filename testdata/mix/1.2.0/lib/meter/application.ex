defmodule Meter.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    Supervisor.start_link([Meter.Counter], strategy: :one_for_one, name: Meter.Supervisor)
  end
end
