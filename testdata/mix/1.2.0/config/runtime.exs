import Config

# Read when the release boots, never at build time.
config :meter, :site, System.get_env("METER_SITE", "unset")
