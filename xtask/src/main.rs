fn main() {
    std::process::exit(xtask::main(std::env::args_os()));
}
