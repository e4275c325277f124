defmodule Meter.Reading do
  @moduledoc "One reading of the meter."
  defstruct sensor: "main", value: 0, unit: "kWh"
end
