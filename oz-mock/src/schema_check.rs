//! The simulator's one JSON Schema checker, for request bodies and queries
//! ([`crate::request_check`]) and Factory files ([`crate::factory_files::schemas`]): schemas
//! are compiled once by [`boon`] (JSON Schema 2020-12, format assertions on), and its error
//! tree becomes a flat list of [`Found`] problems, each at the member it is about. The callers
//! word them: the request checks as `member: message`, the Factory files as diagnostics with
//! `FF_*` codes.
//!
//! Two rules of the walk keep the problems pointed: a value that fails an `anyOf`/`oneOf` whose
//! only other branch is `{"type": "null"}` (a nullable wrapper) gets the problems of the
//! wrapped schema, and a `required` or `additionalProperties` problem is reported once per
//! member, at that member. Wording stays with the callers, except [`Found::message`], the
//! request wording, which Factory diagnostics fall back on for keywords they do not word.

use std::collections::HashMap;

use boon::{Compiler, Draft, ErrorKind, Format, InstanceToken, SchemaIndex, Schemas, Type};
use serde_json::{Number, Value};

/// One step from a value to one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// The JSON pointer of a member (`/a/0/b~1c`).
pub(crate) fn pointer(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        out.push('/');
        match step {
            Step::Key(key) => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// What is wrong with one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    /// Not of the wanted types (as schemas name them, `"null"` last).
    Type(Vec<&'static str>),
    Enum(Vec<Value>),
    Const(Value),
    /// A string the named format refuses.
    Format(&'static str),
    MinLength(usize),
    MaxLength(usize),
    Minimum(Number),
    Maximum(Number),
    ExclusiveMinimum(Number),
    ExclusiveMaximum(Number),
    MinItems(usize),
    MaxItems(usize),
    UniqueItems,
    MinProperties(usize),
    MaxProperties(usize),
    /// A required member is missing (the problem is at that member).
    Required,
    /// A member `additionalProperties: false` refuses (the problem is at that member).
    UnknownMember,
    /// A value `not` or a `false` schema refuses.
    NotAllowed,
    /// No branch of `anyOf` or `oneOf` matches.
    NoneOf(&'static str),
    /// More than one branch of `oneOf` matches.
    MoreThanOneOf,
    /// Any other keyword, in boon's words.
    Other(String),
}

/// One problem: where it is, the value there (`null` for a missing member) and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub(crate) path: Vec<Step>,
    pub(crate) value: Value,
    pub(crate) problem: Problem,
}

impl Found {
    /// The problem in the simulator's request wording, e.g. `0 is less than the minimum of 1`,
    /// `"c" is not one of "a", "b"` or `is required`.
    pub(crate) fn message(&self) -> String {
        let value = quote(&self.value);
        match &self.problem {
            Problem::Type(types) => {
                let list: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
                let noun = if types.len() == 1 { "type" } else { "types" };
                format!("{value} is not of {noun} {}", list.join(", "))
            }
            Problem::Enum(allowed) => {
                let list: Vec<String> = allowed.iter().map(quote).collect();
                format!("{value} is not one of {}", list.join(", "))
            }
            Problem::Const(wanted) => format!("{value} is not {}", quote(wanted)),
            Problem::Format(format) => format!("{value} is not a {format:?}"),
            Problem::MinLength(min) => format!("{value} is shorter than {min} characters"),
            Problem::MaxLength(max) => format!("{value} is longer than {max} characters"),
            Problem::Minimum(limit) => format!("{value} is less than the minimum of {limit}"),
            Problem::Maximum(limit) => format!("{value} is greater than the maximum of {limit}"),
            Problem::ExclusiveMinimum(limit) => {
                format!("{value} is less than or equal to the exclusive minimum of {limit}")
            }
            Problem::ExclusiveMaximum(limit) => {
                format!("{value} is greater than or equal to the exclusive maximum of {limit}")
            }
            Problem::MinItems(min) => format!("has fewer than {min} items ({})", self.count()),
            Problem::MaxItems(max) => format!("has more than {max} items ({})", self.count()),
            Problem::UniqueItems => "has non-unique elements".to_owned(),
            Problem::MinProperties(min) => {
                format!("has fewer than {min} members ({})", self.count())
            }
            Problem::MaxProperties(max) => {
                format!("has more than {max} members ({})", self.count())
            }
            Problem::Required => "is required".to_owned(),
            Problem::UnknownMember => "is not allowed".to_owned(),
            Problem::NotAllowed => format!("{value} is not allowed"),
            Problem::NoneOf(keyword) => {
                format!("{value} matches none of the schemas of {keyword}")
            }
            Problem::MoreThanOneOf => format!("{value} matches more than one schema of oneOf"),
            Problem::Other(words) => words.clone(),
        }
    }

    /// Items of an array or members of an object.
    fn count(&self) -> usize {
        match &self.value {
            Value::Array(items) => items.len(),
            Value::Object(members) => members.len(),
            _ => 0,
        }
    }
}

/// A value as messages quote it: JSON, cut short when long.
pub(crate) fn quote(value: &Value) -> String {
    const MAX: usize = 80;
    let mut text = value.to_string();
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Schemas compiled once, each under a name of the caller's.
pub(crate) struct CompiledSchemas {
    schemas: Schemas,
    by_name: HashMap<String, SchemaIndex>,
}

impl CompiledSchemas {
    /// Compiles `targets` (name and location, e.g. `urn:x#/bodies/make`) from the documents
    /// `resources` (location and JSON), with format assertions and the extra `formats`.
    ///
    /// # Panics
    ///
    /// When a schema does not compile: the documents are the crate's own (openapi.json and
    /// the embedded Factory schemas), and tests compile all of them.
    pub(crate) fn new(
        resources: impl IntoIterator<Item = (String, Value)>,
        targets: impl IntoIterator<Item = (String, String)>,
        formats: &[Format],
    ) -> Self {
        let mut compiler = Compiler::new();
        compiler.set_default_draft(Draft::V2020_12);
        compiler.enable_format_assertions();
        for format in formats {
            compiler.register_format(*format);
        }
        for (location, document) in resources {
            compiler
                .add_resource(&location, document)
                .unwrap_or_else(|e| panic!("schema document {location}: {e}"));
        }
        let mut schemas = Schemas::new();
        let by_name = targets
            .into_iter()
            .map(|(name, location)| {
                let index = compiler
                    .compile(&location, &mut schemas)
                    .unwrap_or_else(|e| panic!("schema {location} does not compile: {e:#}"));
                (name, index)
            })
            .collect();
        Self { schemas, by_name }
    }

    /// Checks `instance` against the schema named `name`; `None` when there is no such schema.
    pub(crate) fn check(&self, name: &str, instance: &Value) -> Option<Result<(), Vec<Found>>> {
        let index = *self.by_name.get(name)?;
        Some(self.schemas.validate(instance, index).map_err(|error| {
            let mut found = Vec::new();
            walk(&error, instance, &[], &[], &mut found);
            found
        }))
    }
}

/// Flattens boon's error tree into `out`. Locations are relative to `root` (the instance, or
/// the name a `propertyNames` schema checked), which sits at `base`; `parent` is the path of
/// the enclosing error.
fn walk(
    error: &boon::ValidationError<'_, '_>,
    root: &Value,
    base: &[Step],
    parent: &[Step],
    out: &mut Vec<Found>,
) {
    let mut path = base.to_vec();
    let mut value = Some(root);
    for token in &error.instance_location.tokens {
        let step = match token {
            InstanceToken::Prop(key) => Step::Key(key.to_string()),
            InstanceToken::Item(i) => Step::Index(*i),
        };
        value = value.and_then(|v| match &step {
            Step::Key(key) => v.get(key.as_str()),
            Step::Index(i) => v.get(*i),
        });
        path.push(step);
    }
    let value = value.cloned().unwrap_or(Value::Null);
    let mut push = |path: Vec<Step>, value: Value, problem: Problem| {
        out.push(Found {
            path,
            value,
            problem,
        });
    };
    let problem = match &error.kind {
        ErrorKind::Group
        | ErrorKind::Schema { .. }
        | ErrorKind::Reference { .. }
        | ErrorKind::AllOf
        | ErrorKind::ContentSchema => {
            for cause in &error.causes {
                walk(cause, root, base, &path, out);
            }
            return;
        }
        ErrorKind::PropertyName { prop } => {
            // boon checks the name as a document of its own, located nowhere.
            let mut at = parent.to_vec();
            at.push(Step::Key(prop.clone()));
            let name = Value::String(prop.clone());
            for cause in &error.causes {
                walk(cause, &name, &at, &at, out);
            }
            return;
        }
        ErrorKind::AnyOf | ErrorKind::OneOf(None) => {
            let keyword = if matches!(error.kind, ErrorKind::AnyOf) {
                "anyOf"
            } else {
                "oneOf"
            };
            // A nullable wrapper of a non-null value: the problems are the wrapped schema's.
            let candidates: Vec<_> = error
                .causes
                .iter()
                .filter(|cause| value.is_null() || !refuses_all_but_null(cause))
                .collect();
            if let [only] = candidates.as_slice() {
                walk(only, root, base, &path, out);
                return;
            }
            Problem::NoneOf(keyword)
        }
        ErrorKind::OneOf(Some(_)) => Problem::MoreThanOneOf,
        ErrorKind::Required { want } => {
            for name in want {
                let mut at = path.clone();
                at.push(Step::Key((*name).to_owned()));
                push(at, Value::Null, Problem::Required);
            }
            return;
        }
        ErrorKind::AdditionalProperties { got } => {
            for name in got {
                let mut at = path.clone();
                at.push(Step::Key(name.to_string()));
                let member = value.get(name.as_ref()).cloned().unwrap_or(Value::Null);
                push(at, member, Problem::UnknownMember);
            }
            return;
        }
        ErrorKind::Type { want, .. } => {
            let mut names: Vec<&'static str> = want
                .iter()
                .filter(|t| *t != Type::Null)
                .map(type_name)
                .collect();
            if want.contains(Type::Null) {
                names.push("null");
            }
            Problem::Type(names)
        }
        ErrorKind::Enum { want } => Problem::Enum(want.to_vec()),
        ErrorKind::Const { want } => Problem::Const((*want).clone()),
        ErrorKind::Format { want, .. } => Problem::Format(want),
        ErrorKind::MinLength { want, .. } => Problem::MinLength(*want),
        ErrorKind::MaxLength { want, .. } => Problem::MaxLength(*want),
        ErrorKind::Minimum { want, .. } => Problem::Minimum((*want).clone()),
        ErrorKind::Maximum { want, .. } => Problem::Maximum((*want).clone()),
        ErrorKind::ExclusiveMinimum { want, .. } => Problem::ExclusiveMinimum((*want).clone()),
        ErrorKind::ExclusiveMaximum { want, .. } => Problem::ExclusiveMaximum((*want).clone()),
        ErrorKind::MinItems { want, .. } => Problem::MinItems(*want),
        ErrorKind::MaxItems { want, .. } => Problem::MaxItems(*want),
        ErrorKind::UniqueItems { .. } => Problem::UniqueItems,
        ErrorKind::MinProperties { want, .. } => Problem::MinProperties(*want),
        ErrorKind::MaxProperties { want, .. } => Problem::MaxProperties(*want),
        ErrorKind::Not | ErrorKind::FalseSchema => Problem::NotAllowed,
        other => Problem::Other(other.to_string()),
    };
    push(path, value, problem);
}

/// Whether a branch's error is only "not null", i.e. the branch is `{"type": "null"}`.
fn refuses_all_but_null(error: &boon::ValidationError<'_, '_>) -> bool {
    match &error.kind {
        ErrorKind::Type { want, .. } => want.iter().eq([Type::Null]),
        _ => false,
    }
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Null => "null",
        Type::Boolean => "boolean",
        Type::Number => "number",
        Type::Integer => "integer",
        Type::String => "string",
        Type::Array => "array",
        Type::Object => "object",
    }
}
