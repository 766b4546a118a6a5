//! Image operations that need the user namespace. (Skeleton.)
