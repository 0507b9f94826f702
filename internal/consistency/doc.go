// Package consistency holds no code, only tests: they keep the files around the binary in step
// with it. No Docker daemon or cluster is needed; the tests read the files and check them
// against the code itself:
//
//   - Dockerfile and .dockerignore: the build context builds with the command `make build`
//     runs (scripts/build.sh), into a static, version-stamped binary; the image runs it as a
//     numeric non-root user; no secret is baked in.
//   - docker-compose.yml and deploy/kubernetes: every command and flag exists in the command
//     tree, every CHATBOT_* variable is a configuration key, the resulting configuration is
//     valid, probes and health checks hit real routes of the real web handler, grace periods
//     outlast the shutdown timeouts, selectors select, and every container is locked down.
//   - config.yaml and the README's configuration table list exactly the keys of config.Keys,
//     with their defaults.
package consistency
