package standin

// Version is the stand-in's version, shown by $zv and iris qlist and used as
// the tag of its image.
const Version = "0.1.0"

// Product names the stand-in wherever IRIS would name itself, so that no
// report can mistake it for InterSystems IRIS.
const Product = "irischaos IRIS stand-in"
