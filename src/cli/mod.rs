//! Command-line definitions. (Skeleton.)
