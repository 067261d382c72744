//! The static shape of a component — how many core instances, linear
//! memories and tables one instantiation creates, and their initial sizes —
//! read from its bytes at upload, so a component that cannot fit the host's
//! per-request bounds is refused with the number found and the limit.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Instance, Parser, Payload,
};

/// Core instances one request's component may create.
pub const MAX_CORE_INSTANCES: u32 = 32;
/// Linear memories one request's component may create.
pub const MAX_MEMORIES: u32 = 2;
/// Tables one request's component may create.
pub const MAX_TABLES: u32 = 16;
/// Elements of all tables of one request together (initial and grown).
pub const MAX_TABLE_ELEMENTS: u64 = 100_000;

/// What one instantiation of a component allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
    /// Bytes of all memories at instantiation.
    pub initial_memory_bytes: u64,
    /// Elements of all tables at instantiation.
    pub initial_table_elements: u64,
}

impl Shape {
    fn add(&mut self, other: &Shape) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
        self.initial_memory_bytes = self
            .initial_memory_bytes
            .saturating_add(other.initial_memory_bytes);
        self.initial_table_elements = self
            .initial_table_elements
            .saturating_add(other.initial_table_elements);
    }

    /// Refuse a shape that cannot fit one request's bounds: `memory_bytes` is
    /// the app's memory limit.
    pub fn check(&self, memory_bytes: u64) -> Result<(), ShapeError> {
        let over = |what: &'static str, found: u64, limit: u64| {
            (found > limit).then_some(ShapeError::TooLarge { what, found, limit })
        };
        let refusal = over(
            "core instances",
            self.core_instances.into(),
            MAX_CORE_INSTANCES.into(),
        )
        .or_else(|| over("linear memories", self.memories.into(), MAX_MEMORIES.into()))
        .or_else(|| over("tables", self.tables.into(), MAX_TABLES.into()))
        .or_else(|| {
            over(
                "bytes of initial linear memory (all memories together, the app's `limits.memory_mib`)",
                self.initial_memory_bytes,
                memory_bytes,
            )
        })
        .or_else(|| {
            over(
                "initial table elements (all tables together)",
                self.initial_table_elements,
                MAX_TABLE_ELEMENTS,
            )
        });
        match refusal {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Why a component's shape was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("the component creates {found} {what} per request; the limit is {limit}")]
    TooLarge {
        what: &'static str,
        found: u64,
        limit: u64,
    },
    #[error("the component's structure cannot be read: {0}")]
    Unreadable(String),
    #[error("the component instantiates a {0} whose shape cannot be known before it runs; this host refuses such components")]
    Opaque(&'static str),
}

/// A module or component in an index space: its shape when instantiated,
/// or `None` when it comes from outside (an import) and is unknown.
type Known = Option<Shape>;

/// One component being read: its core module and component index spaces and
/// what its own instantiation allocates.
#[derive(Default)]
struct ComponentFrame {
    modules: Vec<Known>,
    components: Vec<Known>,
    total: Shape,
}

enum Frame {
    Module(Shape),
    Component(ComponentFrame),
}

/// Read the shape of one instantiation of the component in `bytes`.
pub fn of_component(bytes: &[u8]) -> Result<Shape, ShapeError> {
    let unreadable = |e: wasmparser::BinaryReaderError| ShapeError::Unreadable(e.to_string());
    let mut stack: Vec<Frame> = Vec::new();
    let mut result = None;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(unreadable)? {
            Payload::Version { encoding, .. } => stack.push(match encoding {
                wasmparser::Encoding::Module => Frame::Module(Shape::default()),
                wasmparser::Encoding::Component => Frame::Component(ComponentFrame::default()),
            }),
            Payload::MemorySection(reader) => {
                let Some(Frame::Module(shape)) = stack.last_mut() else {
                    continue;
                };
                for memory in reader {
                    let memory = memory.map_err(unreadable)?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    shape.memories = shape.memories.saturating_add(1);
                    shape.initial_memory_bytes = shape
                        .initial_memory_bytes
                        .saturating_add(memory.initial.saturating_mul(page));
                }
            }
            Payload::TableSection(reader) => {
                let Some(Frame::Module(shape)) = stack.last_mut() else {
                    continue;
                };
                for table in reader {
                    let table = table.map_err(unreadable)?;
                    shape.tables = shape.tables.saturating_add(1);
                    shape.initial_table_elements = shape
                        .initial_table_elements
                        .saturating_add(table.ty.initial);
                }
            }
            Payload::InstanceSection(reader) => {
                let frame = component_frame(&mut stack)?;
                for instance in reader {
                    if let Instance::Instantiate { module_index, .. } =
                        instance.map_err(unreadable)?
                    {
                        let module = known(&frame.modules, module_index, "core module")?;
                        frame.total.add(&module);
                        frame.total.core_instances = frame.total.core_instances.saturating_add(1);
                    }
                }
            }
            Payload::ComponentInstanceSection(reader) => {
                let frame = component_frame(&mut stack)?;
                for instance in reader {
                    if let ComponentInstance::Instantiate {
                        component_index, ..
                    } = instance.map_err(unreadable)?
                    {
                        let component = known(&frame.components, component_index, "component")?;
                        frame.total.add(&component);
                    }
                }
            }
            Payload::ComponentAliasSection(reader) => {
                for alias in reader {
                    match alias.map_err(unreadable)? {
                        ComponentAlias::Outer { kind, count, index } => {
                            let outer = outer_item(&stack, kind, count, index)?;
                            let frame = component_frame(&mut stack)?;
                            match kind {
                                ComponentOuterAliasKind::CoreModule => frame.modules.push(outer),
                                ComponentOuterAliasKind::Component => frame.components.push(outer),
                                _ => {}
                            }
                        }
                        ComponentAlias::InstanceExport { kind, .. } => {
                            let frame = component_frame(&mut stack)?;
                            match kind {
                                ComponentExternalKind::Module => frame.modules.push(None),
                                ComponentExternalKind::Component => frame.components.push(None),
                                _ => {}
                            }
                        }
                        ComponentAlias::CoreInstanceExport { .. } => {}
                    }
                }
            }
            Payload::ComponentImportSection(reader) => {
                let frame = component_frame(&mut stack)?;
                for import in reader {
                    match import.map_err(unreadable)?.ty {
                        ComponentTypeRef::Module(_) => frame.modules.push(None),
                        ComponentTypeRef::Component(_) => frame.components.push(None),
                        _ => {}
                    }
                }
            }
            Payload::ComponentExportSection(reader) => {
                let frame = component_frame(&mut stack)?;
                for export in reader {
                    let export = export.map_err(unreadable)?;
                    match export.kind {
                        ComponentExternalKind::Module => {
                            let item = frame.modules.get(export.index as usize).copied().flatten();
                            frame.modules.push(item);
                        }
                        ComponentExternalKind::Component => {
                            let item = frame
                                .components
                                .get(export.index as usize)
                                .copied()
                                .flatten();
                            frame.components.push(item);
                        }
                        _ => {}
                    }
                }
            }
            Payload::End(_) => {
                let finished = match stack.pop() {
                    Some(Frame::Module(shape)) => (true, shape),
                    Some(Frame::Component(frame)) => (false, frame.total),
                    None => return Err(ShapeError::Unreadable("unbalanced sections".into())),
                };
                match (stack.last_mut(), finished) {
                    (None, (_, shape)) => result = Some(shape),
                    (Some(Frame::Component(parent)), (true, shape)) => {
                        parent.modules.push(Some(shape))
                    }
                    (Some(Frame::Component(parent)), (false, shape)) => {
                        parent.components.push(Some(shape))
                    }
                    (Some(Frame::Module(_)), _) => {
                        return Err(ShapeError::Unreadable("a module nested in a module".into()))
                    }
                }
            }
            _ => {}
        }
    }
    result.ok_or_else(|| ShapeError::Unreadable("the component ends early".into()))
}

fn component_frame(stack: &mut [Frame]) -> Result<&mut ComponentFrame, ShapeError> {
    match stack.last_mut() {
        Some(Frame::Component(frame)) => Ok(frame),
        _ => Err(ShapeError::Unreadable(
            "a component section outside a component".into(),
        )),
    }
}

fn known(items: &[Known], index: u32, what: &'static str) -> Result<Shape, ShapeError> {
    match items.get(index as usize) {
        Some(Some(shape)) => Ok(*shape),
        Some(None) => Err(ShapeError::Opaque(what)),
        None => Err(ShapeError::Unreadable(format!(
            "{what} index {index} is out of range"
        ))),
    }
}

/// The module or component an outer alias names, `count` components out.
fn outer_item(
    stack: &[Frame],
    kind: ComponentOuterAliasKind,
    count: u32,
    index: u32,
) -> Result<Known, ShapeError> {
    let components: Vec<&ComponentFrame> = stack
        .iter()
        .filter_map(|frame| match frame {
            Frame::Component(c) => Some(c),
            Frame::Module(_) => None,
        })
        .collect();
    let Some(depth) = components.len().checked_sub(1 + count as usize) else {
        return Err(ShapeError::Unreadable(
            "an outer alias beyond the outermost component".into(),
        ));
    };
    let frame = components[depth];
    let items = match kind {
        ComponentOuterAliasKind::CoreModule => &frame.modules,
        ComponentOuterAliasKind::Component => &frame.components,
        _ => return Ok(None),
    };
    items
        .get(index as usize)
        .copied()
        .ok_or_else(|| ShapeError::Unreadable(format!("outer alias index {index} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WASM_PAGE: u64 = 64 * 1024;

    fn component(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("valid component text")
    }

    #[test]
    fn counts_what_each_instantiation_allocates() {
        let bytes = component(
            r#"(component
                (core module $m (memory 2) (table 10 funcref))
                (core module $empty)
                (core instance (instantiate $m))
                (core instance (instantiate $m))
                (core instance (instantiate $empty))
                (component $inner
                    (core module $n (memory 1))
                    (core instance (instantiate $n)))
                (instance (instantiate $inner))
                (component $never (core module $big (memory 1000)) (core instance (instantiate $big)))
            )"#,
        );
        let shape = of_component(&bytes).unwrap();
        assert_eq!(
            shape,
            Shape {
                core_instances: 4,
                memories: 3,
                tables: 2,
                initial_memory_bytes: 5 * WASM_PAGE,
                initial_table_elements: 20,
            }
        );
    }

    #[test]
    fn too_many_memories_or_too_much_initial_memory_are_refused_with_the_numbers() {
        let many: String = (0..24)
            .map(|i| format!("(core module $m{i} (memory 1)) (core instance (instantiate $m{i}))"))
            .collect();
        let shape = of_component(&component(&format!("(component {many})"))).unwrap();
        let err = shape.check(64 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the component creates 24 linear memories per request; the limit is 2"
        );
        let big = of_component(&component(
            "(component (core module $m (memory 300)) (core instance (instantiate $m)))",
        ))
        .unwrap();
        let err = big.check(16 << 20).unwrap_err();
        assert!(
            err.to_string()
                .contains("19660800 bytes of initial linear memory"),
            "{err}"
        );
        assert!(big.check(32 << 20).is_ok());
    }

    #[test]
    fn instantiating_an_imported_module_is_refused() {
        let bytes = component(
            r#"(component
                (import "m" (core module $m))
                (core instance (instantiate $m)))"#,
        );
        assert_eq!(
            of_component(&bytes).unwrap_err(),
            ShapeError::Opaque("core module")
        );
    }

    #[test]
    fn every_sample_fits_with_room_to_spare() {
        for (file, _, component) in crate::samples::SAMPLES {
            let shape = of_component(component).unwrap();
            println!("{file}: {shape:?}");
            assert!(shape.check(16 << 20).is_ok(), "{file}: {shape:?}");
            assert!(
                shape.core_instances * 2 <= MAX_CORE_INSTANCES,
                "{file}: {shape:?}"
            );
            assert!(shape.tables * 2 <= MAX_TABLES, "{file}: {shape:?}");
        }
    }

    #[test]
    fn garbage_is_unreadable_not_a_panic() {
        assert!(matches!(
            of_component(b"\0asm\x0d\0\x01\0garbage"),
            Err(ShapeError::Unreadable(_))
        ));
        assert!(of_component(b"").is_err());
    }
}
