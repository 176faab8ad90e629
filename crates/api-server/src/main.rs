use std::process::ExitCode;

use api_server::cli::{Cli, CliError, Command};
use api_server::{Config, telemetry};
use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth knowing about.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve { bind: None });
    if !matches!(command, Command::Openapi) {
        telemetry::init(config.log_format);
    }
    let result: Result<(), CliError> = match command {
        Command::Serve { bind } => {
            if let Some(bind) = bind {
                config.bind = bind;
            }
            match api_server::start(&config, true).await {
                Ok(server) => server
                    .run()
                    .await
                    .map_err(|e| CliError::Usage(e.to_string())),
                Err(e) => Err(e.into()),
            }
        }
        Command::Worker => api_server::worker::run_worker(&config)
            .await
            .map_err(Into::into),
        Command::Migrate => match &config.database_url {
            None => Err(CliError::Usage("migrate needs DATABASE_URL".into())),
            Some(url) => api_server::wiring::migrate(url)
                .await
                .map(|n| println!("applied {n} migration(s)"))
                .map_err(Into::into),
        },
        Command::CreateAdmin { username, email } => {
            api_server::cli::create_admin(&config, &username, &email).await
        }
        Command::Openapi => {
            println!("{}", api_server::http::openapi::document_json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
