-module(gauge_stats).
-export([summary/1]).

summary(#{count := N, last := Last}) -> {N, Last}.
