//! yiwang (一网): one digital-government platform for a city — services (一网通办), governance
//! (一网统管), data exchange (一网共享) and an evidence log (存证).
//!
//! `http` holds routing, extractors and the error type clients see; each domain module holds its
//! operations (`mod.rs`), types, SQL, JSON handlers and pages; `store` the database for both
//! backends and the job queue.

#[macro_use]
mod text_enum;

pub mod applications;
pub mod backup;
pub mod calendar;
pub mod catalog;
pub mod certificates;
pub mod clock;
pub mod config;
pub mod demo;
pub mod evaluation;
#[cfg(feature = "nats")]
pub mod events;
pub mod exchange;
pub mod grid;
pub mod http;
pub mod identity;
pub mod ledger;
pub mod store;
pub mod workorders;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use config::Config;
use identity::provider::{IdentityProvider, LocalAccounts};
use store::Store;
use store::jobs::{Handler, Recurring, Worker};

/// What every request needs. Axum hands each handler its own copy of the state, so it is one
/// reference-counted pointer: copying the services themselves (a dozen shared pointers) was about
/// 3% of the gateway's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Store,
    pub config: Arc<Config>,
    pub calendar: calendar::SharedCalendar,
    pub identity: Arc<dyn IdentityProvider>,
    /// Sign-in through the city's identity platform, when configured.
    pub oidc: Option<Arc<identity::oidc::Oidc>>,
    pub signer: Arc<ledger::Signer>,
    pub search: catalog::search::GuideSearch,
    pub issuer: Arc<certificates::Issuer>,
    /// The time time limits count from.
    pub clock: clock::Clock,
    /// Work-order routing: categories, dispatch catalogue, grids, classifier, time limits.
    pub workorders: workorders::routing::Routing,
    /// What applying for each item needs to know about it, kept for a few seconds.
    pub items: applications::context::ItemContexts,
    /// The data-exchange gateway: call log writer, caches, rate limits and quotas.
    pub exchange: exchange::Exchange,
}

impl Services {
    /// After items were published: the guide search re-indexes and applications read the new
    /// versions.
    pub async fn catalogue_published(&self) {
        self.items.clear();
        self.search.refresh_after_publication(&self.store).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("calendar: {0}")]
    Calendar(#[from] calendar::CalendarAdminError),
    #[error("evidence log: {0}")]
    Ledger(#[from] ledger::LedgerError),
    #[error("catalogue: {0}")]
    Catalog(#[from] catalog::CatalogError),
    #[error("certificates: {0}")]
    Certificates(#[from] certificates::CertificateError),
    #[error("work-order classifier: {0}")]
    Classifier(#[from] workorders::classifier::ClassifierLoadError),
    #[error("call-log pseudonyms: {0}")]
    Pseudonyms(#[from] exchange::pseudonym::PseudonymError),
    #[error("OIDC sign-in: {0}")]
    Oidc(String),
    #[error("a [nats] section is configured but this build has no NATS support (cargo feature `nats`)")]
    NoNatsSupport,
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Opens the database (applying migrations) and loads what every request needs.
pub async fn open(config: Config) -> Result<AppState, StartError> {
    if config.nats.is_some() && !cfg!(feature = "nats") {
        return Err(StartError::NoNatsSupport);
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?;
    let store = Store::open(config.database_url()).await?;
    calendar::seed_if_empty(&store).await?;
    let calendar = calendar::SharedCalendar::new(calendar::load(&store).await?);
    let signer = Arc::new(ledger::Signer::load_or_create(&config.data_dir, &config.ledger_origin)?);
    let search = catalog::search::GuideSearch::load(&store).await?;
    let issuer = Arc::new(certificates::Issuer::load_or_create(&config.data_dir, &config.certificate_issuer)?);
    let classifier = Arc::new(workorders::classifier::Classifier::load(&config.data_dir)?);
    let workorders = workorders::routing::Routing::load(&store, classifier, config.dispatch_threshold).await?;
    let pseudonyms = exchange::pseudonym::Pseudonyms::load_or_create(&config.data_dir)?;
    pseudonyms.check(&store, &config.data_dir).await?;
    exchange::index_rows_stored_before_the_index(&store).await?;
    let exchange = exchange::Exchange::new(store.clone(), config.exchange_source_hosts.clone(), pseudonyms);
    let items = applications::context::ItemContexts::new(&config.instant_approval_app);
    let oidc = config.oidc.clone().map(identity::oidc::Oidc::new).transpose().map_err(StartError::Oidc)?.map(Arc::new);
    Ok(AppState(Arc::new(Services {
        exchange,
        store,
        config: Arc::new(config),
        calendar,
        identity: Arc::new(LocalAccounts),
        oidc,
        signer,
        search,
        issuer,
        clock: clock::Clock::default(),
        workorders,
        items,
    })))
}

fn job_handlers(state: &AppState) -> HashMap<&'static str, Handler> {
    let mut handlers: HashMap<&'static str, Handler> = HashMap::new();
    let signer = state.signer.clone();
    handlers.insert(
        "ledger.checkpoint",
        Arc::new(move |store, _| {
            let signer = signer.clone();
            Box::pin(async move {
                if let Some(c) = ledger::checkpoint_if_grown(&store, &signer).await.map_err(|e| e.to_string())? {
                    tracing::debug!(size = c.tree_size, "signed an evidence-log checkpoint");
                }
                Ok(())
            })
        }),
    );
    let calendar = state.calendar.clone();
    handlers.insert(
        "applications.raise_alarms",
        Arc::new(move |store, _| {
            let calendar = calendar.get();
            Box::pin(async move {
                let changed = applications::raise_alarms(&store, &calendar, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
                if changed > 0 {
                    tracing::info!(changed, "raised time-limit alarms on applications");
                }
                Ok(())
            })
        }),
    );
    let clock = state.clock.clone();
    handlers.insert(
        "workorders.raise_alarms",
        Arc::new(move |store, _| {
            let now = clock.now();
            Box::pin(async move {
                let changed = workorders::raise_alarms(&store, now).await.map_err(|e| e.to_string())?;
                if changed > 0 {
                    tracing::info!(changed, "raised time-limit alarms on work orders");
                }
                Ok(())
            })
        }),
    );
    handlers.insert(
        "exchange.index_subjects",
        Arc::new(|store, _| {
            Box::pin(async move {
                let calls = exchange::index_call_subjects(&store).await.map_err(|e| e.to_string())?;
                tracing::debug!(calls, "indexed the residents gateway calls returned");
                Ok(())
            })
        }),
    );
    let clock = state.clock.clone();
    handlers.insert(
        "exchange.drop_row_sets",
        Arc::new(move |store, _| {
            let now = clock.now();
            Box::pin(async move {
                let dropped = exchange::drop_row_sets(&store, now).await.map_err(|e| e.to_string())?;
                if dropped > 0 {
                    tracing::info!(dropped, "deleted replaced dataset rows");
                }
                Ok(())
            })
        }),
    );
    let (calendar, clock, limits) = (state.calendar.clone(), state.clock.clone(), state.config.exchange_alerts);
    handlers.insert(
        "exchange.detect_alerts",
        Arc::new(move |store, _| {
            let (calendar, now) = (calendar.get(), clock.now());
            Box::pin(async move {
                let raised =
                    exchange::alerts::detect(&store, &calendar, now, &limits).await.map_err(|e| e.to_string())?;
                if raised > 0 {
                    tracing::warn!(raised, "raised alerts on unusual use of shared data");
                }
                Ok(())
            })
        }),
    );
    let (clock, settings) = (state.clock.clone(), state.config.evaluation);
    handlers.insert(
        "evaluation.default_ratings",
        Arc::new(move |store, _| {
            let now = clock.now();
            Box::pin(async move {
                let given = evaluation::default_ratings(&store, settings, now).await.map_err(|e| e.to_string())?;
                if given > 0 {
                    tracing::info!(given, "gave the default rating to services left unrated");
                }
                Ok(())
            })
        }),
    );
    let clock = state.clock.clone();
    handlers.insert(
        "evaluation.raise_overdue",
        Arc::new(move |store, _| {
            let now = clock.now();
            Box::pin(async move {
                let raised = evaluation::raise_overdue(&store, now).await.map_err(|e| e.to_string())?;
                if raised > 0 {
                    tracing::info!(raised, "raised overdue rectifications");
                }
                Ok(())
            })
        }),
    );
    let retention_ms = i64::from(state.config.outbox_retention_days) * 24 * 3600 * 1000;
    handlers.insert(
        "outbox.purge_published",
        Arc::new(move |store, _| {
            Box::pin(async move {
                let mut conn = store.pool().acquire().await.map_err(|e| e.to_string())?;
                let before = store::now_ms() - retention_ms;
                let deleted = store::outbox::purge_published(&mut conn, before).await.map_err(|e| e.to_string())?;
                if deleted > 0 {
                    tracing::info!(deleted, "deleted published outbox events past their retention");
                }
                Ok(())
            })
        }),
    );
    handlers.insert(
        "jobs.purge_done",
        Arc::new(|store, _| {
            Box::pin(async move {
                let mut conn = store.pool().acquire().await.map_err(|e| e.to_string())?;
                let before = store::now_ms() - DONE_JOBS_KEPT.as_millis() as i64;
                let deleted = store::jobs::purge_done(&mut conn, before).await.map_err(|e| e.to_string())?;
                tracing::debug!(deleted, "deleted finished jobs");
                Ok(())
            })
        }),
    );
    #[cfg(feature = "nats")]
    if let Some(settings) = state.config.nats.clone() {
        let publisher = Arc::new(events::Publisher::new(settings));
        handlers.insert(
            "outbox.publish",
            Arc::new(move |store, _| {
                let publisher = publisher.clone();
                Box::pin(async move {
                    let published = publisher.publish_pending(&store).await.map_err(|e| e.to_string())?;
                    tracing::debug!(published, "published outbox events to NATS JetStream");
                    Ok(())
                })
            }),
        );
    }
    handlers.insert(
        "identity.purge_expired",
        Arc::new(|store, _| {
            Box::pin(async move {
                let removed = identity::purge_expired(&store).await.map_err(|e| e.to_string())?;
                tracing::info!(removed, "purged expired sessions and sign-in failures");
                Ok(())
            })
        }),
    );
    handlers
}

/// How long a finished job stays in the table (which node ran it, for an operator).
const DONE_JOBS_KEPT: Duration = Duration::from_secs(24 * 3600);
/// How often a node checks for publications from other nodes to re-index.
const SEARCH_REFRESH: Duration = Duration::from_secs(5);
/// Guide views are saved every this many refreshes.
const VIEWS_SAVED_EVERY: u64 = 6;

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<Result<(), StartError>>,
}

impl Running {
    /// Stops accepting requests, lets requests in flight finish and stops the worker.
    pub async fn stop(mut self) -> Result<(), StartError> {
        let _ = self.shutdown.send(true);
        while let Some(done) = self.tasks.join_next().await {
            done.map_err(|e| StartError::Serve(std::io::Error::other(e)))??;
        }
        Ok(())
    }

    /// Runs until the process is asked to stop (Ctrl-C or SIGTERM).
    pub async fn until_signal(self) -> Result<(), StartError> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Binds the listener and starts the HTTP server, the job worker, the calendar refresher and the
/// guide-search refresher.
pub async fn start(state: AppState) -> Result<Running, StartError> {
    let listener = tokio::net::TcpListener::bind(state.config.listen)
        .await
        .map_err(|e| StartError::Listen(state.config.listen, e))?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    let (shutdown, receiver) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let mut recurring = vec![
        Recurring { kind: "identity.purge_expired", every: Duration::from_secs(3600) },
        Recurring { kind: "outbox.purge_published", every: Duration::from_secs(3600) },
        Recurring { kind: "jobs.purge_done", every: Duration::from_secs(3600) },
        Recurring { kind: "ledger.checkpoint", every: Duration::from_secs(5) },
        Recurring { kind: "applications.raise_alarms", every: Duration::from_secs(60) },
        Recurring { kind: "workorders.raise_alarms", every: Duration::from_secs(60) },
        Recurring { kind: "exchange.detect_alerts", every: Duration::from_secs(60) },
        Recurring { kind: "exchange.index_subjects", every: Duration::from_secs(2) },
        Recurring { kind: "exchange.drop_row_sets", every: Duration::from_secs(60) },
        Recurring { kind: "evaluation.default_ratings", every: Duration::from_secs(600) },
        Recurring { kind: "evaluation.raise_overdue", every: Duration::from_secs(60) },
    ];
    // `open` refused a `[nats]` section in a build without NATS support.
    if state.config.nats.is_some() {
        recurring.push(Recurring { kind: "outbox.publish", every: Duration::from_secs(1) });
    }
    let worker = Worker {
        store: state.store.clone(),
        // The port tells apart nodes that share a host (and, in tests, a process).
        name: format!("{}-{}-{}", hostname(), std::process::id(), addr.port()),
        handlers: job_handlers(&state),
        recurring,
        idle_wait: Duration::from_millis(state.config.worker_idle_ms),
    };
    let worker_stop = receiver.clone();
    tasks.spawn(async move {
        worker.run(worker_stop).await;
        Ok(())
    });

    let (calendar, store, mut calendar_stop) = (state.calendar.clone(), state.store.clone(), receiver.clone());
    let routing = state.workorders.clone();
    tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                _ = calendar_stop.changed() => return Ok(()),
            }
            if let Err(e) = calendar.reload(&store).await {
                tracing::warn!(error = %e, "could not reload the calendar");
            }
            // Categories, the dispatch catalogue and grids edited on another node.
            if let Err(e) = routing.reload(&store).await {
                tracing::warn!(error = %e, "could not reload work-order routing");
            }
        }
    });

    let (search, store, mut search_stop) = (state.search.clone(), state.store.clone(), receiver.clone());
    tasks.spawn(async move {
        for tick in 1u64.. {
            tokio::select! {
                _ = tokio::time::sleep(SEARCH_REFRESH) => {}
                _ = search_stop.changed() => break,
            }
            if let Err(e) = search.refresh(&store).await {
                tracing::warn!(error = %e, "could not refresh the guide search index");
            }
            if tick % VIEWS_SAVED_EVERY == 0
                && let Err(e) = search.save_views(&store).await
            {
                tracing::warn!(error = %e, "could not save guide views");
            }
        }
        if let Err(e) = search.save_views(&store).await {
            tracing::warn!(error = %e, "could not save guide views at shutdown");
        }
        Ok(())
    });

    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut server_stop = receiver;
    tasks.spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            })
            .await
            .map_err(StartError::Serve)
    });
    tracing::info!(%addr, "yiwang is listening");
    Ok(Running { addr, shutdown, tasks })
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "node".into())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
