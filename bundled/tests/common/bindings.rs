//! Typed bindings for the worlds the components export, shared by the tests and the
//! benchmark (which includes this file by path).
#![allow(dead_code)]

pub mod auth {
    wasmtime::component::bindgen!({
        inline: "
            package test:auth;
            world jwt-auth {
                export wharf:auth/types@1.0.0;
                export wharf:auth/keys@1.0.0;
                export wharf:auth/verifier@1.0.0;
                export wharf:auth/signer@1.0.0;
            }
        ",
        path: ["../wit-packages/auth/1.0.0"],
        additional_derives: [PartialEq],
    });
}

pub mod schema {
    wasmtime::component::bindgen!({
        inline: "
            package test:schema;
            world json-schema {
                export wharf:schema/types@1.0.0;
                export wharf:schema/validator@1.0.0;
            }
        ",
        path: ["../wit-packages/schema/1.0.0"],
    });
}

pub mod transform {
    wasmtime::component::bindgen!({
        inline: "
            package test:transform;
            world json-transform {
                export wharf:transform/types@1.0.0;
                export wharf:transform/transformer@1.0.0;
            }
        ",
        path: ["../wit-packages/transform/1.0.0"],
    });
}

pub mod flate {
    wasmtime::component::bindgen!({
        inline: "
            package test:compression;
            world flate {
                export wharf:compression/types@1.1.0;
                export wharf:compression/codec@1.1.0;
                export wharf:compression/streaming@1.1.0;
            }
        ",
        path: ["../wit-packages/compression/1.1.0"],
        additional_derives: [PartialEq],
    });
}

pub mod brotli {
    wasmtime::component::bindgen!({
        inline: "
            package test:compression;
            world brotli {
                export wharf:compression/types@1.0.0;
                export wharf:compression/codec@1.0.0;
            }
        ",
        path: ["../wit-packages/compression/1.0.0"],
        additional_derives: [PartialEq],
    });
}
