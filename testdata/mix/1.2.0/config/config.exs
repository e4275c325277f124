import Config

# Build time; config/runtime.exs overrides it when the release boots.
config :meter, :site, "build-time"
config :meter, :unit, "kWh"
