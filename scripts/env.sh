# shellcheck shell=bash
# Sourced by the project's scripts: one place for the environment the
# controller commands need.
ALOHA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ALOHA_ROOT
export CONTAINERS_CONF="$ALOHA_ROOT/tests/images/containers.conf"
export PATH="$ALOHA_ROOT/.venv/bin:$PATH"
# The production configuration (SSH host keys checked, only the role on
# roles_path): what the README's commands against real hosts use.
export ANSIBLE_CONFIG="$ALOHA_ROOT/ansible.cfg"
# The tests, the demo and the benchmark run against throwaway containers with
# their own configuration: they set ANSIBLE_CONFIG="$ALOHA_TEST_CONFIG".
export ALOHA_TEST_CONFIG="$ALOHA_ROOT/tests/ansible.cfg"
# Image names are project-specific so parallel projects do not collide.
export ALOHA_IMAGE_PREFIX="localhost/aloha-email-test"
# Fixture layers (tests/images/build-fixtures) hold this clone's test CA:
# one image name per clone. A clone that copies another clone's .cache/test-ca
# may set ALOHA_FIXTURE_IMAGE to that clone's images and skip the bake.
ALOHA_FIXTURE_IMAGE="${ALOHA_FIXTURE_IMAGE:-localhost/aloha-email-fixtures-$(printf '%s' "$ALOHA_ROOT" | sha256sum | cut -c1-8)}"
export ALOHA_FIXTURE_IMAGE
