//! What every example starts with: a client of the real service when `WARP_API_KEY` is set,
//! else of the local simulator, started in-process (so the examples work offline).

#![allow(dead_code)]

use oz_api_ext::oz_api::{Client, Config};
use oz_mock::{OzMock, Progression};

/// The client, and the simulator it talks to when there is no key (keep it alive as long as
/// the client is used: dropping it stops the simulator).
pub async fn connect(
    progression: Progression,
) -> Result<(Client, Option<OzMock>), Box<dyn std::error::Error>> {
    connect_with(progression, |config| config).await
}

/// [`connect`], with settings of the example's own added to the configuration.
pub async fn connect_with(
    progression: Progression,
    adjust: impl FnOnce(Config) -> Config,
) -> Result<(Client, Option<OzMock>), Box<dyn std::error::Error>> {
    match std::env::var("WARP_API_KEY") {
        Ok(key) if !key.trim().is_empty() => {
            let config = Config::from_env()?;
            println!(
                "WARP_API_KEY is set: using the Oz API at {}",
                config.base_url_str()
            );
            Ok((adjust(config).build()?, None))
        }
        _ => {
            let mock = OzMock::builder().progression(progression).start().await?;
            println!(
                "WARP_API_KEY is not set: using the local Oz simulator at {}",
                mock.base_url()
            );
            let config = Config::new(mock.api_key()).base_url(mock.base_url());
            Ok((adjust(config).build()?, Some(mock)))
        }
    }
}
