defmodule Meter.Counter do
  @moduledoc "Counts pulses. 1.1.0 and 1.2.0 state: %{count: integer}."
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, 0, name: __MODULE__)
  def pulse, do: GenServer.call(__MODULE__, :pulse)
  def value, do: GenServer.call(__MODULE__, :value)
  def state, do: :sys.get_state(__MODULE__)

  @impl true
  def init(count), do: {:ok, %{count: count}}

  @impl true
  def handle_call(:pulse, _from, s), do: {:reply, :ok, %{s | count: s.count + 1}}
  def handle_call(:value, _from, s), do: {:reply, s.count, s}

  @impl true
  def code_change({:down, _vsn}, %{count: count}, _extra), do: {:ok, count}
  def code_change(_vsn, count, _extra) when is_integer(count), do: {:ok, %{count: count}}
end
