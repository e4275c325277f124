defmodule Meter.Counter do
  @moduledoc "Counts pulses. 1.0.0 state: the count, an integer."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def pulse, do: GenServer.call(__MODULE__, :pulse)
  def value, do: GenServer.call(__MODULE__, :value)
  def state, do: :sys.get_state(__MODULE__)

  @impl true
  def init(count), do: {:ok, count}

  @impl true
  def handle_call(:pulse, _from, count), do: {:reply, :ok, count + 1}
  def handle_call(:value, _from, count), do: {:reply, count, count}
end
