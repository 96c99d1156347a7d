//! The integration tests, as one binary: each module was a test binary of its own, and linking
//! 36 binaries against every dependency was most of the suite's time. Tests that need a
//! process to themselves stay apart: `tests/metrics.rs` (a global metrics recorder),
//! `tests/memory.rs` (resident memory of the process) and `tests/timing/` (the tests that
//! measure time, one at a time with nothing beside them).

#[path = "../common/mod.rs"]
mod common;

mod attack_alg;
mod attack_claims;
mod attack_header_params;
mod attack_header_syntax;
mod attack_keys;
mod attack_signature;
mod claim_rules;
mod config_errors;
mod contract;
mod delegation;
mod diagnose;
mod diagnose_dpop;
mod diagnose_properties;
mod doctor;
mod dpop;
#[cfg(feature = "redis")]
mod dpop_redis;
#[cfg(feature = "redis")]
mod dpop_replicas;
mod error_hook;
mod extractors;
mod grpc;
mod hs256;
mod interop;
mod interop_dpop;
mod interop_jwe;
mod interop_mcp;
mod introspection;
mod issuers;
mod jwe;
mod jwe_config;
mod jwe_pipeline;
mod key_set;
mod mcp;
mod mcp_example;
mod mcp_resources;
mod mtls;
mod optional_auth;
mod properties;
mod readme;
mod refusal_logs;
mod resource_indicators;
mod resource_metadata;
mod scope_hierarchy;
mod static_keys;
mod step_up;
mod strict_mode;
mod tenant_realms;
mod tenant_templates;
mod tenants;
mod token_cache;
mod token_endpoint;
mod token_sources;
mod validation_rules;
mod wycheproof;
