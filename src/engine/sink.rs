//! Building a pipeline's sink with what it needs of the engine: the state
//! store for the sinks that keep state there (the pull method's served
//! dataset, the file method's uploads), the run, and whether files may be
//! replaced.

use std::sync::Arc;

use skolsync_sink::pull::ServedStore;
use skolsync_sink::upload::UploadStore;
use skolsync_sink::{Sink, SinkComponent, SinkStores};

use super::EngineError;
use super::pull::ServedDataset;
use super::upload::UploadRecords;
use crate::pipeline::Pipeline;
use crate::state::StateStore;

/// What a sink is built with besides its section.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkSetup<'a> {
    /// The pipeline's state store (`None`: `validate` before it exists; a
    /// sink that keeps state there then only checks its settings).
    pub store: Option<&'a StateStore>,
    /// The run, when the sink is built for one.
    pub run_id: Option<&'a str>,
    /// Whether the sink may replace files it would refuse to write over
    /// (`run --force`).
    pub overwrite: bool,
}

/// Builds the pipeline's sink.
pub async fn build_sink(
    pipeline: &Pipeline,
    setup: SinkSetup<'_>,
) -> Result<Box<dyn Sink>, EngineError> {
    let mut stores = SinkStores::default();
    if let Some(store) = setup.store {
        let identity = pipeline.sink_identity();
        match pipeline.sink().component() {
            SinkComponent::Pull(_) => {
                let served: Arc<dyn ServedStore> =
                    Arc::new(ServedDataset::new(store.clone(), identity));
                stores.served = Some(served);
            }
            SinkComponent::Upload(_) => {
                let uploads: Arc<dyn UploadStore> = Arc::new(UploadRecords::new(
                    store.clone(),
                    identity,
                    setup.run_id.unwrap_or_default(),
                ));
                stores.uploads = Some(uploads);
            }
            SinkComponent::Skolverket(_) | SinkComponent::File(..) => {}
        }
    }
    let ctx = pipeline.build_context().with_overwrite(setup.overwrite);
    Ok(skolsync_sink::build(pipeline.sink(), &ctx, stores).await?)
}
