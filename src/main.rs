fn main() -> std::process::ExitCode {
    ipcfs::run::main()
}
