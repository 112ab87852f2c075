"""RubyGems file formats ferry reads and writes without Ruby: a gem's YAML gemspec (:mod:`.psych`,
:mod:`.spec`) and the Marshal index files a gem source serves (:mod:`.marshal`)."""
