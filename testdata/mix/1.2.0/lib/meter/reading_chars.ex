defimpl String.Chars, for: Meter.Reading do
  def to_string(r), do: "v3 #{r.sensor}=#{r.value} #{r.unit}"
end
