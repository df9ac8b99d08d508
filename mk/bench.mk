# Benchmarks: ratios measured in one run on this machine (never part of `make test`).

.PHONY: bench bench-quick bench-large

bench: setup ## the speed and cost claims on the medium sample, about 20 min
	$(VENV)/bin/python -m bench.run

bench-quick: setup ## the same measures on the small sample, under 3 min
	$(VENV)/bin/python -m bench.run --quick

# The large sample's two slots (about 3.4 million documents at about 4 KB each in the
# Firestore emulator's heap) outgrow its default heap; a set FIRESTORE_EMULATOR_HEAP
# wins.
bench-large: export FIRESTORE_EMULATOR_HEAP ?= 18g
bench-large: setup ## scale alone: full syncs of the medium and large samples, ~35 min
	$(VENV)/bin/python -m bench.run --large
