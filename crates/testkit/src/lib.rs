//! In-process test servers on 127.0.0.1:0: the demo shop, generated sites, fault injection.
