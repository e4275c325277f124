defmodule Meter.Health do
  @moduledoc "The health function beamupd calls."
  def check do
    if Process.whereis(Meter.Counter), do: :ok, else: {:error, :no_counter}
  end
end
