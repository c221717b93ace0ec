//! Validation of a composed component with its function bodies spread over the
//! machine's cores.
//!
//! Validating the output is most of the cost of composing (the inputs' code is all
//! in it), and `Validator::validate_all` checks every function body on one thread.
//! The module-level pass must stay in order, but once it has handed out a body with
//! its [`FuncToValidate`] the bodies are independent, so they are validated here on
//! scoped threads, as wasmparser's documentation suggests. The features are those
//! wac-graph validates with, so this accepts exactly what `EncodeOptions { validate:
//! true }` would.

use wasmparser::{
    BinaryReaderError, FuncToValidate, FuncValidatorAllocations, FunctionBody, Parser,
    ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

type Body<'a> = (FuncToValidate<ValidatorResources>, FunctionBody<'a>);

/// Validates `bytes`, returning the error at the lowest offset if any.
pub fn validate(bytes: &[u8]) -> Result<(), BinaryReaderError> {
    let features = WasmFeatures::all();
    let mut validator = Validator::new_with_features(features);
    let mut parser = Parser::new(0);
    parser.set_features(features);
    let mut bodies: Vec<Body<'_>> = Vec::new();
    for payload in parser.parse_all(bytes) {
        if let ValidPayload::Func(func, body) = validator.payload(&payload?)? {
            bodies.push((func, body));
        }
    }

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(bodies.len());
    if threads <= 1 {
        return check(bodies);
    }
    // Largest first, each to the share with the fewest bytes so far: the shares end
    // up within one body's size of each other.
    bodies.sort_by_key(|(_, body)| std::cmp::Reverse(size(body)));
    let mut shares: Vec<(usize, Vec<Body<'_>>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for body in bodies {
        let share = shares
            .iter_mut()
            .min_by_key(|(size, _)| *size)
            .expect("at least two shares");
        share.0 += size(&body.1);
        share.1.push(body);
    }
    let errors: Vec<BinaryReaderError> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|(_, share)| scope.spawn(move || check(share)))
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("a validation thread panicked").err())
            .collect()
    });
    match errors.into_iter().min_by_key(BinaryReaderError::offset) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn size(body: &FunctionBody<'_>) -> usize {
    let range = body.range();
    (range.end - range.start) as usize
}

/// Validates `bodies` in order on this thread, reusing one set of allocations.
fn check(bodies: Vec<Body<'_>>) -> Result<(), BinaryReaderError> {
    let mut allocations = FuncValidatorAllocations::default();
    for (func, body) in bodies {
        let mut validator = func.into_validator(allocations);
        validator.validate(&body)?;
        allocations = validator.into_allocations();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (func (result i32) ...) (func (result i32) ...))` with the given
    /// constant instructions (0x41 i32.const, 0x42 i64.const).
    fn module(first: u8, second: u8) -> Vec<u8> {
        vec![
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
            0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type 0: () -> i32
            0x03, 0x03, 0x02, 0x00, 0x00, // two functions of type 0
            0x0a, 0x0b, 0x02, // code: two bodies
            0x04, 0x00, first, 0x00, 0x0b, //
            0x04, 0x00, second, 0x00, 0x0b,
        ]
    }

    #[test]
    fn a_body_that_does_not_type_check_is_refused_on_any_thread() {
        validate(&module(0x41, 0x41)).unwrap();
        let first = validate(&module(0x42, 0x41)).unwrap_err();
        let second = validate(&module(0x41, 0x42)).unwrap_err();
        assert!(first.offset() < second.offset());
        // Both bad: the error at the lowest offset, as a sequential validator reports.
        assert_eq!(
            validate(&module(0x42, 0x42)).unwrap_err().offset(),
            first.offset()
        );
    }
}
