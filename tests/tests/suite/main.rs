//! The integration suite of the city's scenarios through the real gateway,
//! one module per area, built as one test binary: one link instead of one per
//! file (the hostile-load cases, which measure this process, stay apart).

mod authorization;
mod bills;
mod catalogue;
mod citizen_data;
mod citizens;
mod consent;
mod contract;
mod development;
mod field_reports;
mod frames;
mod gateway;
mod grants;
mod guest_output;
mod hostile;
mod install;
mod js_sdk;
mod maps;
mod oidc;
mod openapi;
mod operator_console;
mod operator_tokens;
mod outbound;
mod parking;
mod payments;
mod persistence;
mod public_services;
mod publishing;
mod readiness;
mod tourism;
