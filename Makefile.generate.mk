# Code and CRD generation for the API types in api/.
#
# Included from the root Makefile. `make generate` rebuilds:
#   - api/**/zz_generated.deepcopy.go (DeepCopy functions), and
#   - crd/<group>_<plural>.yaml       (the CRDs users `kubectl apply -f crd/`), and
#   - charts/aeraki/crds/             (the same files, which Helm installs).
# Commit them; api/api_test.go and charts/chart_test.go fail when they are stale.
#
# controller-gen is built from the pinned tool module in tools/controller-gen
# (its own go.mod, so the generator's dependencies stay out of the aeraki
# module) into .cache/bin, which git ignores.

CONTROLLER_GEN_MODULE := tools/controller-gen
CONTROLLER_GEN        := $(CURDIR)/.cache/bin/controller-gen

# Keep these in step with generatorArgs in api/api_test.go.
CONTROLLER_GEN_OBJECT_ARGS := object:headerFile=hack/boilerplate.go.txt paths=./api/...
CONTROLLER_GEN_CRD_ARGS    := crd:allowDangerousTypes=true paths=./api/... output:crd:dir=./crd

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and CRD YAML from api/.
	rm -f api/*/*/zz_generated.deepcopy.go api/*/zz_generated.deepcopy.go crd/*.aeraki.io_*.yaml
	$(CONTROLLER_GEN) $(CONTROLLER_GEN_OBJECT_ARGS)
	$(CONTROLLER_GEN) $(CONTROLLER_GEN_CRD_ARGS)
	$(MAKE) chart-crds

# Helm installs what is in a chart's crds/; crd/ stays the one source.
chart-crds:
	rm -f charts/aeraki/crds/*.yaml
	cp crd/*.aeraki.io_*.yaml charts/aeraki/crds/

# Rebuilt when the tool module's pins change.
$(CONTROLLER_GEN): $(CONTROLLER_GEN_MODULE)/go.mod $(CONTROLLER_GEN_MODULE)/go.sum
	@mkdir -p $(dir $@)
	cd $(CONTROLLER_GEN_MODULE) && GOWORK=off go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen
