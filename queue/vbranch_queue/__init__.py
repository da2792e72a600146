"""vbranch routing: the pure queue policy and its state stores."""
