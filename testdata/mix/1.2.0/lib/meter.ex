defmodule Meter do
  @moduledoc "The meter's rpc interface."

  @doc "The current reading, described by String.Chars for Meter.Reading (v3 in 1.2.0)."
  def describe do
    to_string(%Meter.Reading{value: Meter.Counter.value(), unit: Application.get_env(:meter, :unit)})
  end

  def site, do: Application.get_env(:meter, :site)

  @doc "The unit of the readings (new in 1.2.0)."
  def unit, do: Application.get_env(:meter, :unit)
end
