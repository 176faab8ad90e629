use std::process::ExitCode;

use api_server::cli::{Cli, CliError, Command, ParseError};
use api_server::config::ConfigArgs;
use api_server::telemetry;

#[actix_web::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth knowing about.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::parse_env() {
        Ok(cli) => cli,
        Err(ParseError::Config(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(ParseError::Clap(e)) => e.exit(),
    };
    let command = cli.command.unwrap_or(Command::Serve { config: cli.config });
    // `openapi` reads no configuration, so it works whatever the environment holds.
    let Some(args) = command.config_args().cloned() else {
        println!("{}", api_server::http::openapi::document_json());
        return ExitCode::SUCCESS;
    };
    let config = match ConfigArgs::into_config(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format, &config.log_filter);
    let result: Result<(), CliError> = match command {
        Command::Serve { .. } => match api_server::start(&config, true).await {
            Ok(server) => server
                .run()
                .await
                .map_err(|e| CliError::Usage(e.to_string())),
            Err(e) => Err(e.into()),
        },
        Command::Worker { .. } => api_server::worker::run_worker(&config)
            .await
            .map_err(Into::into),
        Command::Migrate { .. } => match &config.database_url {
            None => Err(CliError::Usage("migrate needs DATABASE_URL".into())),
            Some(url) => api_server::wiring::migrate(url)
                .await
                .map(|n| println!("applied {n} migration(s)"))
                .map_err(Into::into),
        },
        Command::CreateAdmin {
            username, email, ..
        } => api_server::cli::create_admin(&config, &username, &email).await,
        // handled above: it has no configuration
        Command::Openapi => Ok(()),
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
