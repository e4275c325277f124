defmodule Meter do
  @moduledoc "The meter's rpc interface."

  @doc "The current reading, described. 1.0.0 formats the fields itself."
  def describe do
    r = %Meter.Reading{value: Meter.Counter.value(), unit: Application.get_env(:meter, :unit)}
    "v1 #{r.sensor} #{r.value} #{r.unit}"
  end

  def site, do: Application.get_env(:meter, :site)
end
