//! Generates the public gRPC API (client and server) from `proto/boxoffice.proto` (protoc from
//! Debian's protobuf-compiler).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/boxoffice.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/boxoffice.proto"], &["proto"])?;
    Ok(())
}
